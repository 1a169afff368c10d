"""Read the chain for checks the API makes before accepting a request, turning transport failures into
`Unavailable` (503) and contract refusals into `RefusedByChain` (409) naming the contract's error."""

from __future__ import annotations

from typing import Any

from backend.chain.reverts import ContractRevert
from backend.services.context import Services
from backend.services.errors import RefusedByChain, Unavailable


def call(services: Services, fn: Any) -> Any:
    try:
        return services.chain.call(fn)
    except ContractRevert as exc:
        raise RefusedByChain(f"the contract refuses: {exc}", error=exc.error, arguments=_jsonable(exc.args_dict)) from None
    except Exception as exc:  # noqa: BLE001 - connection refused, timeouts, ...
        raise Unavailable(f"the chain at {services.settings.rpc_url} does not answer: {type(exc).__name__}") from None


def would_succeed(services: Services, fn: Any, sender: str) -> None:
    """Refuse now what the chain would refuse when the relayer submits it (the gas estimate runs the call)."""
    try:
        services.chain.estimate(fn, sender)
    except ContractRevert as exc:
        raise RefusedByChain(f"the contract would refuse it: {exc}", error=exc.error,
                             arguments=_jsonable(exc.args_dict)) from None
    except Exception as exc:  # noqa: BLE001
        raise Unavailable(f"the chain at {services.settings.rpc_url} does not answer: {type(exc).__name__}") from None


def _jsonable(args: dict[str, Any]) -> dict[str, Any]:
    return {k: ("0x" + v.hex() if isinstance(v, bytes) else str(v) if isinstance(v, int) and abs(v) > 2**53 else v)
            for k, v in args.items()}

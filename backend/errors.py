"""Domain errors. Every error the service raises on purpose derives from `KanazawaDaoError`, whose message says
what was wrong and what to do; entry points print it without a traceback."""


class KanazawaDaoError(Exception):
    """Base of all expected errors."""


class ToolchainError(KanazawaDaoError):
    """The pinned node toolchain (anvil, solc-js, OpenZeppelin) is missing or broken."""


class CompileError(KanazawaDaoError):
    """The contracts did not compile."""


class DevnetError(KanazawaDaoError):
    """The local devnet could not be started, reached or stopped."""


class DeploymentError(KanazawaDaoError):
    """A deployment manifest is missing or does not match the chain."""

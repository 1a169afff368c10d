"""Everything that talks to the chain: toolchain, compile step, artifacts, client, deployment, devnet."""

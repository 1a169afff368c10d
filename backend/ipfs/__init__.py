"""IPFS: the content store (`store`: local files or a Kubo RPC API, same CIDs, verified reads) and a js-ipfs daemon
from the pinned npm package for tests (`daemon`)."""

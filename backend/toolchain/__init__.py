"""The developer's toolchain, apart from what runs the service: the pinned npm packages in hardhat-free-devnet/
(`npm.py`), the compile step (`compile.py`: py-solc-x driving solc-js), anvil (`anvil.py`) and the devnet's life
cycle (`devnet.py`). An API, worker or indexer host imports none of it: it needs only the built artifacts
(backend/chain/artifacts.py)."""

"""Domain services: what the API and the worker do, in domain words. Each takes a `Services` context and
plain values, writes off-chain tables in one transaction, and raises `ServiceError` subclasses that the API maps
to RFC 9457 problem documents."""

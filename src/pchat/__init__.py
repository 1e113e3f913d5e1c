"""pchat: a self-hosted public chat service with Python and browser SDKs."""

__version__ = "0.1.0"

__all__ = ["__version__"]

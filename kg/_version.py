"""The version of the installed distribution; pyproject.toml is its one source."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("acr-kg")
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"

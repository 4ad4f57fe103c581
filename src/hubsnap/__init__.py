"""hubsnap: Hugging Face Hub revisions as signed, content-addressed OCI artifacts."""

from hubsnap.errors import ExitCode, HubsnapError

__all__ = ["ExitCode", "HubsnapError", "__version__"]

__version__ = "0.1.0"

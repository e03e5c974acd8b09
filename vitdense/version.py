"""Version of vitdense."""

__version__ = '0.1.0'

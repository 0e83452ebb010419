"""CityOS: an open digital city operating and governance platform."""

__version__ = "0.1.0"

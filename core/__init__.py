"""seglab's UI-free library: models, data, training engine, prediction and run folders."""

__version__ = "0.1.0"

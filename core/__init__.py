"""seglab's UI-free library: models, data, training engine, prediction and run folders. Its packages import only
downward: inference, training, runs, a config's data and model, config, then data, models and losses."""

__version__ = "0.1.0"

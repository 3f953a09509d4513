"""Neural network building blocks of the models (layers, encoders, decoders)."""

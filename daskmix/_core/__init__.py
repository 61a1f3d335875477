"""Model-agnostic core: the engine, statistics, validation and the EM drivers."""

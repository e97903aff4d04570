"""The fleet's configuration: typed models, loading with file:line problems, the Fleet."""

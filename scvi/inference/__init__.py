"""Training of the models and queries of their posteriors."""

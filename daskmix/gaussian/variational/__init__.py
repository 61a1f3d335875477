"""The variational Gaussian mixture (BayesianGaussianMixture)."""

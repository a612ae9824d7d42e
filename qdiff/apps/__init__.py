"""Applications built on the engines: the command line today; Born machines, VQE, QAOA next."""

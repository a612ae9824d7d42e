"""Pure torch statevector kernels and the circuit compiler."""

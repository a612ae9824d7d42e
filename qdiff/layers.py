"""`QuantumLayer`: a parametrized circuit as a ``torch.nn.Module``.

The layer owns the circuit's *weight* parameters as one ``nn.Parameter`` (shape
``(num_weights,)``) and takes the *input* parameters from its argument, a batch of classical
features of shape ``(*batch, num_inputs)``. Each call lays both out in ``circuit.parameters``
order with a permutation computed once (no Python loop per call) and runs :func:`qdiff.expval`
or :func:`qdiff.probs` with the layer's gradient ``method``, dtype and device. So the layer
composes with ``nn.Sequential``, trains with any ``torch.optim`` optimizer, follows
``.to(device)`` / ``.to(torch.float32)`` and round-trips through ``state_dict``.

>>> import torch, qdiff
>>> x, w = qdiff.ParameterVector("x", 2), qdiff.ParameterVector("w", 2)
>>> c = qdiff.Circuit(2).ry(x[0], 0).ry(x[1], 1).cx(0, 1).ry(w[0], 0).ry(w[1], 1)
>>> layer = qdiff.QuantumLayer(c, [qdiff.Z(0), qdiff.Z(1)], input_params=[x], seed=0)
>>> layer(torch.rand(5, 2)).shape
torch.Size([5, 2])
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from qdiff.errors import ObservableError, ParameterError, QubitError
from qdiff.execute import expval, probs
from qdiff.ir.circuit import Circuit
from qdiff.ir.observables import PauliSum
from qdiff.ir.parameters import Parameter, ParameterVector

ParameterSpec = Parameter | ParameterVector | Iterable[Parameter | ParameterVector]
Observables = PauliSum | Sequence[PauliSum] | str

_REAL_OF = {torch.complex64: torch.float32, torch.complex128: torch.float64,
            torch.float32: torch.float32, torch.float64: torch.float64}
_COMPLEX_OF = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def _flatten(spec: ParameterSpec | None, what: str) -> tuple[Parameter, ...]:
    """Flatten Parameters and ParameterVectors into a tuple of Parameters, rejecting repeats."""
    if spec is None:
        return ()
    if isinstance(spec, (Parameter, ParameterVector)):
        spec = [spec]
    if isinstance(spec, (str, bytes)) or not isinstance(spec, Iterable):
        raise ParameterError(f"{what} must be a sequence of qdiff Parameters or ParameterVectors, got {spec!r}")
    flat: list[Parameter] = []
    for item in spec:
        if isinstance(item, ParameterVector):
            flat.extend(item)
        elif isinstance(item, Parameter):
            flat.append(item)
        else:
            raise ParameterError(f"{what} must contain qdiff Parameters or ParameterVectors, "
                                 f"got {type(item).__name__} ({item!r})")
    repeated = [p.name for p, count in Counter(flat).items() if count > 1]
    if repeated:
        raise ParameterError(f"{what} lists parameter(s) {repeated} more than once")
    return tuple(flat)


def _split_parameters(circuit: Circuit, weight_params: ParameterSpec | None,
                      input_params: ParameterSpec) -> tuple[tuple[Parameter, ...], tuple[Parameter, ...]]:
    """Weight and input parameters, checked to partition ``circuit.parameters`` exactly."""
    inputs = _flatten(input_params, "input_params")
    known = set(circuit.parameters)
    if weight_params is None:
        taken = set(inputs)
        weights = tuple(p for p in circuit.parameters if p not in taken)
    else:
        weights = _flatten(weight_params, "weight_params")
    problems = []
    overlap = [p.name for p in weights if p in set(inputs)]
    if overlap:
        problems.append(f"parameter(s) {overlap} are in both weight_params and input_params")
    extra = [p.name for p in weights + inputs if p not in known]
    if extra:
        problems.append(f"parameter(s) {extra} are not in the circuit")
    covered = set(weights) | set(inputs)
    missing = [p.name for p in circuit.parameters if p not in covered]
    if missing:
        problems.append(f"circuit parameter(s) {missing} are in neither weight_params nor input_params")
    if problems:
        raise ParameterError("weight_params and input_params must together cover circuit.parameters "
                             "exactly once: " + "; ".join(problems))
    return weights, inputs


def _check_observables(
    circuit: Circuit, observables: Observables, qubits: Sequence[int] | int | None,
) -> tuple[list[PauliSum] | None, bool, tuple[int, ...] | None]:
    """``(pauli_sums or None for probs, single, probs_qubits)``, validated against the circuit."""
    n = circuit.num_qubits
    if isinstance(observables, str):
        if observables != "probs":
            raise ObservableError(f"unknown observables string {observables!r}; use \"probs\" for "
                                  "probabilities, or pass a PauliSum or a list of PauliSums")
        if qubits is None:
            return None, False, None
        qs = [qubits] if isinstance(qubits, numbers.Integral) else list(qubits)
        for q in qs:
            if isinstance(q, bool) or not isinstance(q, numbers.Integral) or not 0 <= q < n:
                raise QubitError(f"qubits: {q!r} is out of range for a circuit of {n} qubit(s)")
        if len(set(qs)) != len(qs) or not qs:
            raise QubitError(f"qubits must be a non-empty list of distinct qubits, got {qs}")
        return None, False, tuple(int(q) for q in qs)
    if qubits is not None:
        raise ObservableError("qubits= only applies to observables=\"probs\"")
    single = isinstance(observables, PauliSum)
    obs = [observables] if single else list(observables)  # type: ignore[arg-type]
    if not obs:
        raise ObservableError("no observables given; pass a PauliSum, a non-empty list of them, or \"probs\"")
    for o in obs:
        if not isinstance(o, PauliSum):
            raise ObservableError(f"observables must be PauliSums (build with qdiff.X/Y/Z) or \"probs\", "
                                  f"got {type(o).__name__}")
        if o.num_qubits > n:
            raise ObservableError(f"observable {o!r} acts on qubit {o.num_qubits - 1} but the circuit has "
                                  f"only {n} qubit(s)")
        o.check_hermitian()
    return obs, single, None


def _real_dtype(dtype: torch.dtype | None) -> torch.dtype:
    if dtype is None:
        return torch.float64
    if dtype not in _REAL_OF:
        raise TypeError(f"dtype must be torch.complex128 (default), torch.complex64, or their real "
                        f"counterparts torch.float64 / torch.float32, got {dtype}")
    return _REAL_OF[dtype]


class QuantumLayer(nn.Module):
    """A circuit as a torch module: trainable weights, classical inputs, expectation values out.

    Args:
        circuit: the parametrized circuit (the layer keeps its own copy).
        observables: a :class:`PauliSum` (output ``(*batch,)``), a list of ``K`` PauliSums
            (output ``(*batch, K)``), or ``"probs"`` for probabilities ``(*batch, 2**k)``
            (``k = len(qubits)``, or all qubits).
        weight_params: Parameters / ParameterVectors (flattened, in the given order) held as the
            trainable ``weights``; default: every circuit parameter not in ``input_params``,
            in ``circuit.parameters`` order.
        input_params: Parameters / ParameterVectors (flattened) fed from the ``inputs`` columns,
            in the given order; default none.
        method: gradient engine, as for :func:`qdiff.expval` (``"auto"``, ``"adjoint"``,
            ``"backprop"``, ``"param_shift"``, ``"finite_diff"``, ``"spsa"`` or an engine object).
        qubits: with ``"probs"``, the qubits to measure (first listed = least significant bit).
        init_weights: initial weights, shape ``(num_weights,)``; default uniform in ``[0, 2pi)``.
        seed: seed for the uniform initialisation (an int), or pass ``generator``.
        generator: a CPU ``torch.Generator`` for the uniform initialisation.
        dtype: ``torch.complex128`` (default, float64 weights and outputs) or ``torch.complex64``
            (float32); ``layer.to(torch.float32)`` / ``.double()`` switch it later.
        device: device of the weights; ``layer.to(device)`` moves them later.
    Raises:
        ParameterError: the weight and input parameters do not partition ``circuit.parameters``
            (names the missing, extra or overlapping ones), or ``init_weights`` has a wrong shape.
        ObservableError: an observable is not a Hermitian PauliSum on the circuit, or an unknown
            string.
        QubitError: a bad ``qubits`` list.
    """

    def __init__(self, circuit: Circuit, observables: Observables, *,
                 weight_params: ParameterSpec | None = None, input_params: ParameterSpec = (),
                 method: str | Callable[..., object] = "auto", qubits: Sequence[int] | int | None = None,
                 init_weights: torch.Tensor | Sequence[float] | None = None, seed: int | None = None,
                 generator: torch.Generator | None = None, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None):
        super().__init__()
        if not isinstance(circuit, Circuit):
            raise TypeError(f"expected a qdiff Circuit, got {type(circuit).__name__}")
        if not (isinstance(method, str) or callable(method)):
            raise TypeError(f"method must be an engine name or an engine object, got {method!r}")
        self.circuit = circuit.copy()
        self.weight_params, self.input_params = _split_parameters(self.circuit, weight_params, input_params)
        self._observables, self._single, self._qubits = _check_observables(self.circuit, observables, qubits)
        self.method = method
        real = _real_dtype(dtype)
        # Position of each circuit parameter in cat([weights, inputs]): values = cat[..., perm].
        slot = {p: i for i, p in enumerate(self.weight_params + self.input_params)}
        perm = torch.tensor([slot[p] for p in self.circuit.parameters], dtype=torch.long)
        self.register_buffer("_perm", perm.to(device), persistent=False)
        # Empty tensor that tracks the layer's real dtype and device through .to() / .double().
        self.register_buffer("_anchor", torch.empty(0, dtype=real, device=device), persistent=False)
        self.weights = nn.Parameter(torch.empty(len(self.weight_params), dtype=real, device=device))
        if init_weights is not None:
            if seed is not None or generator is not None:
                raise ParameterError("give init_weights or seed/generator, not both")
            self._set_weights(init_weights)
        else:
            self.reset_parameters(seed=seed, generator=generator)

    # -- sizes -------------------------------------------------------------------------------
    @property
    def num_weights(self) -> int:
        """Number of trainable weights: the length of ``weights``."""
        return len(self.weight_params)

    @property
    def num_inputs(self) -> int:
        """Number of input features: the length of the last axis of ``inputs``."""
        return len(self.input_params)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Trailing shape of the output: ``()``, ``(K,)`` or ``(2**k,)``."""
        if self._observables is None:
            k = self.circuit.num_qubits if self._qubits is None else len(self._qubits)
            return (2**k,)
        return () if self._single else (len(self._observables),)

    @property
    def dtype(self) -> torch.dtype:
        """The complex simulation dtype (``torch.complex128`` or ``torch.complex64``)."""
        real = self._anchor.dtype
        if real not in _COMPLEX_OF:
            raise TypeError(f"QuantumLayer simulates in complex64 or complex128, so its real dtype must be "
                            f"torch.float32 or torch.float64, got {real}; use layer.to(torch.float32) or "
                            ".double() (not a complex or half dtype)")
        return _COMPLEX_OF[real]

    # -- weights -----------------------------------------------------------------------------
    def reset_parameters(self, *, seed: int | None = None, generator: torch.Generator | None = None) -> None:
        """Draw the weights uniformly from ``[0, 2pi)`` (with ``seed`` or ``generator`` if given)."""
        if seed is not None and generator is not None:
            raise ParameterError("give seed or generator, not both")
        if seed is not None:
            generator = torch.Generator().manual_seed(int(seed))
        draw = torch.rand(self.num_weights, dtype=torch.float64, generator=generator) * (2 * math.pi)
        with torch.no_grad():
            self.weights.copy_(draw.to(self.weights.dtype))

    def _set_weights(self, init_weights: torch.Tensor | Sequence[float]) -> None:
        t = torch.as_tensor(init_weights)
        if t.is_complex() or t.shape != (self.num_weights,):
            raise ParameterError(f"init_weights must be a real tensor of shape ({self.num_weights},) "
                                 f"(weight_params order), got {t.dtype} {tuple(t.shape)}")
        with torch.no_grad():
            self.weights.copy_(t.to(self.weights.dtype))

    # -- forward -----------------------------------------------------------------------------
    def _values(self, inputs: torch.Tensor | Sequence[float] | None) -> torch.Tensor:
        """The circuit's values ``(*batch, P)`` in ``circuit.parameters`` order."""
        real = self._anchor.dtype
        weights = self.weights.to(real)
        if inputs is None:
            if self.num_inputs:
                raise ParameterError(f"this layer takes inputs of shape (*batch, {self.num_inputs}) "
                                     f"(input_params {self._names(self.input_params)}), got none")
            return weights[self._perm]
        x = inputs if isinstance(inputs, torch.Tensor) else torch.as_tensor(inputs)
        if x.is_complex():
            raise ParameterError("inputs must be real, got a complex tensor")
        if x.dim() == 0 or x.shape[-1] != self.num_inputs:
            got = "a scalar" if x.dim() == 0 else f"shape {tuple(x.shape)}"
            hint = "; for one feature per sample use x.unsqueeze(-1)" if self.num_inputs == 1 else ""
            raise ParameterError(f"inputs must have shape (*batch, {self.num_inputs}) (input_params "
                                 f"{self._names(self.input_params)}), got {got}{hint}")
        if x.device != weights.device:
            raise ParameterError(f"inputs are on {x.device} but the layer's weights are on {weights.device}; "
                                 f"move one of them (layer.to({str(x.device)!r}))")
        x = x.to(real)
        w = weights.expand(x.shape[:-1] + (self.num_weights,))
        return torch.cat([w, x], dim=-1).index_select(-1, self._perm)

    def forward(self, inputs: torch.Tensor | Sequence[float] | None = None) -> torch.Tensor:
        """Run the circuit on a batch of inputs.

        Args:
            inputs: ``(*batch, num_inputs)`` real tensor (columns in ``input_params`` order);
                ``(num_inputs,)`` for one sample; omit when the layer has no inputs.
        Returns:
            real tensor ``(*batch, *output_shape)`` in the layer's real dtype (float64 by default).
        Raises:
            ParameterError: inputs of the wrong width, complex, missing, or on another device.
        """
        dtype = self.dtype
        values = self._values(inputs)
        if self._observables is None:
            return probs(self.circuit, values, qubits=self._qubits, dtype=dtype, device=values.device,
                         method=self.method)
        obs = self._observables[0] if self._single else self._observables
        return expval(self.circuit, obs, values, dtype=dtype, device=values.device, method=self.method)

    # -- display -----------------------------------------------------------------------------
    @staticmethod
    def _names(params: Sequence[Parameter], limit: int = 4) -> str:
        shown = ", ".join(p.name for p in params[:limit])
        return "[" + shown + (", ..." if len(params) > limit else "") + "]"

    def extra_repr(self) -> str:
        if self._observables is None:
            on = "" if self._qubits is None else f" on qubits {list(self._qubits)}"
            outputs = f"probs({self.output_shape[0]}){on}"
        elif self._single:
            outputs = f"expval({self._observables[0]!r})"
        else:
            outputs = f"{len(self._observables)} expvals"
        method = self.method if isinstance(self.method, str) else getattr(self.method, "__name__", "custom")
        return (f"qubits={self.circuit.num_qubits}, weights={self.num_weights}, inputs={self.num_inputs}, "
                f"outputs={outputs}, method={method!r}, dtype={self._anchor.dtype}")

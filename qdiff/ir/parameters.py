"""Symbolic circuit parameters and affine expressions of them.

A :class:`Parameter` is a named placeholder; its value is supplied at call time, never stored.
Expressions are affine: ``sum_k c_k * p_k + offset`` with real coefficients. That is enough for
shared angles (QAOA), doubled angles and sign flips, and it keeps every gradient engine exact:
the derivative of a gate angle with respect to a parameter is just a coefficient.

>>> theta, phi = Parameter("theta"), Parameter("phi")
>>> expr = 2 * theta - phi + 0.5
>>> expr.coefficients[theta], expr.coefficients[phi], expr.offset
(2.0, -1.0, 0.5)
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Iterator, Mapping, Sequence
from typing import Union

from qdiff.errors import NonAffineError, ParameterError

_ids = itertools.count()


def _as_real(value: object, context: str) -> float:
    """Return ``value`` as a float, or raise a clear error for anything non-real."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if isinstance(value, (ParameterExpression, Parameter)):
            raise NonAffineError(
                f"{context}: the product or quotient of two parameter expressions is not affine; "
                "qdiff supports only sums of parameters times real numbers plus a constant. "
                "Introduce a new Parameter for the combined quantity instead."
            )
        raise NonAffineError(
            f"{context}: expected a real number, got {type(value).__name__} ({value!r}). "
            "Parameter expressions take real coefficients only."
        )
    return float(value)


class ParameterExpression:
    """An affine function ``sum_k coefficients[p_k] * p_k + offset`` of parameters.

    Immutable and hashable. Terms keep the order in which parameters first appeared, which is the
    order :attr:`Circuit.parameters` reports.
    """

    __slots__ = ("_terms", "_offset", "_hash")

    def __init__(self, terms: Mapping[Parameter, float] | None = None, offset: float = 0.0):
        cleaned: dict[Parameter, float] = {}
        for parameter, coefficient in (terms or {}).items():
            if not isinstance(parameter, Parameter):
                raise TypeError(f"expression terms must be keyed by Parameter, got {parameter!r}")
            c = _as_real(coefficient, "parameter expression")
            if c != 0.0:
                cleaned[parameter] = cleaned.get(parameter, 0.0) + c
        self._terms = cleaned
        self._offset = _as_real(offset, "parameter expression")
        self._hash: int | None = None

    # -- inspection -------------------------------------------------------------------------
    @property
    def coefficients(self) -> Mapping[Parameter, float]:
        """Mapping from each parameter to its real coefficient (read-only view)."""
        return dict(self._terms)

    @property
    def offset(self) -> float:
        """The constant term."""
        return self._offset

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        """The parameters this expression depends on, in order of appearance."""
        return tuple(self._terms)

    def is_constant(self) -> bool:
        """True when no parameter appears."""
        return not self._terms

    def evaluate(self, values: Mapping[Parameter, float]) -> float:
        """Value of the expression for numbers assigned to each of its parameters."""
        return self._offset + sum(c * float(values[p]) for p, c in self._terms.items())

    def substitute(self, mapping: Mapping[Parameter, ParameterLike]) -> ParameterExpression:
        """Replace parameters by numbers, other parameters or affine expressions."""
        result = ParameterExpression(offset=self._offset)
        for parameter, coefficient in self._terms.items():
            replacement = mapping.get(parameter, parameter)
            result = result + coefficient * as_expression(replacement)
        return result

    # -- arithmetic -------------------------------------------------------------------------
    def __add__(self, other: object) -> ParameterExpression:
        if isinstance(other, (Parameter, ParameterExpression)):
            o = as_expression(other)
            terms = dict(self._terms)
            for p, c in o._terms.items():
                terms[p] = terms.get(p, 0.0) + c
            return ParameterExpression(terms, self._offset + o._offset)
        if isinstance(other, numbers.Real) and not isinstance(other, bool):
            return ParameterExpression(self._terms, self._offset + float(other))
        return NotImplemented

    __radd__ = __add__

    def __neg__(self) -> ParameterExpression:
        return ParameterExpression({p: -c for p, c in self._terms.items()}, -self._offset)

    def __sub__(self, other: object) -> ParameterExpression:
        if isinstance(other, (Parameter, ParameterExpression, numbers.Real)):
            return self + (-as_expression(other) if not isinstance(other, numbers.Real) else -other)
        return NotImplemented

    def __rsub__(self, other: object) -> ParameterExpression:
        return (-self) + other

    def __mul__(self, other: object) -> ParameterExpression:
        if isinstance(other, (Parameter, ParameterExpression)):
            if self.is_constant():
                return as_expression(other) * self._offset
            if as_expression(other).is_constant():
                return self * as_expression(other).offset
        factor = _as_real(other, "multiplying a parameter expression")
        return ParameterExpression({p: c * factor for p, c in self._terms.items()}, self._offset * factor)

    __rmul__ = __mul__

    def __truediv__(self, other: object) -> ParameterExpression:
        divisor = _as_real(other, "dividing a parameter expression")
        if divisor == 0.0:
            raise ZeroDivisionError("parameter expression divided by zero")
        return self * (1.0 / divisor)

    def __rtruediv__(self, other: object) -> ParameterExpression:
        raise NonAffineError(
            "dividing by a parameter expression is not affine; qdiff supports only sums of "
            "parameters times real numbers plus a constant."
        )

    def __pow__(self, other: object) -> ParameterExpression:
        raise NonAffineError("powers of parameter expressions are not affine; use a new Parameter.")

    # -- identity ---------------------------------------------------------------------------
    def _key(self) -> tuple:
        return (tuple(sorted(((p._id, c) for p, c in self._terms.items()))), self._offset)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Parameter, ParameterExpression)):
            return self._key() == as_expression(other)._key()
        if isinstance(other, numbers.Real) and self.is_constant():
            return self._offset == float(other)
        return NotImplemented

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(("ParameterExpression",) + self._key())
        return self._hash

    def __float__(self) -> float:
        if not self.is_constant():
            names = ", ".join(p.name for p in self._terms)
            raise TypeError(f"expression depends on unbound parameters ({names}); supply values")
        return self._offset

    def __repr__(self) -> str:
        return f"ParameterExpression({self})"

    def __str__(self) -> str:
        parts: list[str] = []
        for p, c in self._terms.items():
            if c == 1.0:
                term = p.name
            elif c == -1.0:
                term = f"-{p.name}"
            else:
                term = f"{c:g}*{p.name}"
            parts.append(term)
        if self._offset != 0.0 or not parts:
            parts.append(f"{self._offset:g}")
        text = " + ".join(parts)
        return text.replace("+ -", "- ")


class Parameter:
    """A named, trainable placeholder for a real number.

    Two parameters are the same only if they are the same object (like Qiskit), so two
    ``Parameter("theta")`` made separately are distinct. Arithmetic produces
    :class:`ParameterExpression` objects.
    """

    __slots__ = ("_name", "_id")

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            raise TypeError(f"Parameter name must be a non-empty string, got {name!r}")
        self._name = name
        self._id = next(_ids)

    @property
    def name(self) -> str:
        """The parameter's display name."""
        return self._name

    def _expr(self) -> ParameterExpression:
        return ParameterExpression({self: 1.0})

    def __add__(self, other: object) -> ParameterExpression:
        return self._expr() + other

    __radd__ = __add__

    def __sub__(self, other: object) -> ParameterExpression:
        return self._expr() - other

    def __rsub__(self, other: object) -> ParameterExpression:
        return other - self._expr()  # type: ignore[operator]

    def __mul__(self, other: object) -> ParameterExpression:
        return self._expr() * other

    __rmul__ = __mul__

    def __truediv__(self, other: object) -> ParameterExpression:
        return self._expr() / other

    def __rtruediv__(self, other: object) -> ParameterExpression:
        return self._expr().__rtruediv__(other)

    def __pow__(self, other: object) -> ParameterExpression:
        return self._expr() ** other

    def __neg__(self) -> ParameterExpression:
        return -self._expr()

    def __pos__(self) -> ParameterExpression:
        return self._expr()

    def __float__(self) -> float:
        raise TypeError(f"Parameter {self._name!r} has no value; supply values at call time")

    def __hash__(self) -> int:
        return hash(("Parameter", self._id))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Parameter):
            return self is other
        if isinstance(other, ParameterExpression):
            return other == self
        return NotImplemented

    def __repr__(self) -> str:
        return f"Parameter({self._name!r})"

    def __str__(self) -> str:
        return self._name


class ParameterVector:
    """A named, indexable, iterable sequence of parameters ``name[0] ... name[n-1]``.

    >>> w = ParameterVector("w", 3)
    >>> len(w), w[1].name, [p.name for p in w[1:]]
    (3, 'w[1]', ['w[1]', 'w[2]'])
    """

    def __init__(self, name: str, length: int):
        if not isinstance(length, numbers.Integral) or length < 0:
            raise TypeError(f"ParameterVector length must be a non-negative int, got {length!r}")
        self._name = name
        self._params = tuple(Parameter(f"{name}[{i}]") for i in range(int(length)))

    @property
    def name(self) -> str:
        """The vector's name."""
        return self._name

    @property
    def params(self) -> tuple[Parameter, ...]:
        """All elements as a tuple."""
        return self._params

    def __len__(self) -> int:
        return len(self._params)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._params)

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        if isinstance(index, slice):
            return list(self._params[index])
        return self._params[index]

    def __repr__(self) -> str:
        return f"ParameterVector({self._name!r}, {len(self)})"


ParameterLike = Union[float, int, Parameter, ParameterExpression]


def as_expression(value: ParameterLike) -> ParameterExpression:
    """Convert a number, Parameter or expression into a :class:`ParameterExpression`."""
    if isinstance(value, ParameterExpression):
        return value
    if isinstance(value, Parameter):
        return value._expr()
    return ParameterExpression(offset=_as_real(value, "gate angle"))


def expand_parameter_mapping(mapping: Mapping[object, object], known: Sequence[Parameter],
                             context: str) -> dict[Parameter, object]:
    """Flatten ``{Parameter | ParameterVector: value}`` into ``{Parameter: value}``.

    A vector's value is split along its last axis (``value[..., i]`` for arrays and tensors,
    ``list(value)`` otherwise). Every resulting parameter must be one of ``known``.

    Raises:
        ParameterError: a key that is not a (known) parameter, or a vector value of the wrong length.
    """
    flat: dict[Parameter, object] = {}
    for key, value in mapping.items():
        if isinstance(key, ParameterVector):
            shape = getattr(value, "shape", None)
            items = [value[..., i] for i in range(shape[-1])] if shape else list(value)  # type: ignore[index, call-overload]
            if len(items) != len(key):
                raise ParameterError(f"{context}: {key!r} needs {len(key)} values, got {len(items)} "
                                     f"(a vector's values lie along the last dimension, here {len(key)})")
            flat.update(zip(key, items))
        elif isinstance(key, Parameter):
            flat[key] = value
        else:
            raise ParameterError(f"{context}: keys must be Parameters or ParameterVectors, got {key!r}")
    known_set = set(known)
    unknown = [p.name for p in flat if p not in known_set]
    if unknown:
        raise ParameterError(f"{context}: parameter(s) {unknown} are not in the circuit")
    return flat

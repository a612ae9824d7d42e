"""Parameters and affine expressions, mapped between qdiff and Qiskit (both ways).

qdiff angles are affine, ``sum_k c_k p_k + offset``. A Qiskit ``ParameterExpression`` is accepted
when it is affine: every partial derivative (``expr.gradient(p)``) must be a real constant; the
offset is the expression with every parameter bound to zero. Parameters map one-to-one by name
within one conversion; a :class:`ParameterMap` holds that correspondence.
"""

from __future__ import annotations

import numbers
import re

from qiskit.circuit import Parameter as QkParameter
from qiskit.circuit import ParameterExpression as QkExpression

from qdiff.errors import NonAffineError, ParameterError
from qdiff.ir.parameters import Parameter, ParameterExpression, as_expression

QkValue = float | QkExpression


def natural_key(name: str) -> tuple:
    """Sort key that orders ``t_2`` before ``t_10`` (digit runs compare as numbers)."""
    return tuple((0, int(tok), "") if tok.isdigit() else (1, 0, tok) for tok in re.split(r"(\d+)", name) if tok)


class ParameterMap:
    """The one-to-one correspondence of qdiff and Qiskit parameters within one conversion."""

    def __init__(self) -> None:
        self.to_qk: dict[Parameter, QkParameter] = {}
        self.to_qd: dict[QkParameter, Parameter] = {}
        self._names: dict[str, Parameter] = {}

    # -- qdiff -> Qiskit --------------------------------------------------------------------------
    def qiskit_parameter(self, parameter: Parameter) -> QkParameter:
        """The Qiskit parameter of the same name (created on first use).

        Raises:
            ParameterError: two distinct qdiff parameters share a name (Qiskit identifies a
                circuit's parameters by name, so the map would not be one-to-one).
        """
        found = self.to_qk.get(parameter)
        if found is None:
            other = self._names.get(parameter.name)
            if other is not None and other is not parameter:
                raise ParameterError(
                    f"two different parameters are both named {parameter.name!r}; Qiskit needs unique "
                    "parameter names in a circuit: rename one (e.g. use a ParameterVector)")
            found = QkParameter(parameter.name)
            self._names[parameter.name] = parameter
            self.to_qk[parameter] = found
            self.to_qd[found] = parameter
        return found

    def to_qiskit(self, expr: ParameterExpression) -> QkValue:
        """A qdiff affine expression as a float, a Qiskit Parameter or a Qiskit expression."""
        if expr.is_constant():
            return expr.offset
        terms = list(expr.coefficients.items())
        if len(terms) == 1 and terms[0][1] == 1.0 and expr.offset == 0.0:
            return self.qiskit_parameter(terms[0][0])
        total: QkValue | None = None
        for parameter, coefficient in terms:
            qp = self.qiskit_parameter(parameter)
            term = qp if coefficient == 1.0 else coefficient * qp
            total = term if total is None else total + term
        assert total is not None
        return total + expr.offset if expr.offset != 0.0 else total

    # -- Qiskit -> qdiff --------------------------------------------------------------------------
    def qdiff_parameter(self, parameter: QkParameter) -> Parameter:
        """The qdiff parameter of the same name (created on first use)."""
        found = self.to_qd.get(parameter)
        if found is None:
            found = Parameter(parameter.name)
            self.to_qd[parameter] = found
            self.to_qk[found] = parameter
        return found

    def from_qiskit(self, value: object, where: str) -> ParameterExpression:
        """A Qiskit angle (number, Parameter or expression) as a qdiff affine expression.

        Parameters appearing for the first time together in one expression are created in
        natural name order (Qiskit keeps no order of the terms of an expression).

        Raises:
            NonAffineError: the expression is not affine in its parameters, or not real.
        """
        if isinstance(value, QkExpression):
            return self._expression(value, where)
        if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
            value = _real(complex(value), where, str(value))
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return as_expression(float(value))
        raise NonAffineError(f"{where}: unsupported angle {value!r} of type {type(value).__name__}")

    def _expression(self, expr: QkExpression, where: str) -> ParameterExpression:
        params = sorted(expr.parameters, key=lambda p: natural_key(p.name))
        if not params:
            return as_expression(_real(complex(expr.numeric()), where, str(expr)))
        terms: dict[Parameter, float] = {}
        for p in params:
            derivative = expr.gradient(p)
            if isinstance(derivative, QkExpression):
                if derivative.parameters:
                    raise NonAffineError(
                        f"{where}: the angle {expr} is not affine in its parameters (d/d{p.name} = "
                        f"{derivative}); qdiff supports sums of parameters times real numbers plus a "
                        "constant. Introduce a new parameter for the non-linear quantity.")
                derivative = derivative.numeric()
            terms[self.qdiff_parameter(p)] = _real(complex(derivative), where, str(expr))
        offset = expr.bind({p: 0.0 for p in params})
        offset = offset.numeric() if isinstance(offset, QkExpression) else offset
        return ParameterExpression(terms, _real(complex(offset), where, str(expr)))


def _real(value: complex, where: str, text: str) -> float:
    if abs(value.imag) > 1e-12:
        raise NonAffineError(f"{where}: the angle {text} is complex; gate angles must be real")
    return float(value.real)

"""Parameters and affine parameter expressions."""

from __future__ import annotations

import pytest

import qdiff
from qdiff import NonAffineError, Parameter, ParameterExpression, ParameterVector


@pytest.fixture
def theta():
    return Parameter("theta")


@pytest.fixture
def phi():
    return Parameter("phi")


def _terms(expr):
    return {p.name: c for p, c in expr.coefficients.items()}, expr.offset


def test_affine_expressions(theta, phi):
    w = ParameterVector("w", 5)
    assert _terms(2 * theta + 0.1) == ({"theta": 2.0}, 0.1)
    assert _terms(theta * 2 + 0.1) == ({"theta": 2.0}, 0.1)
    assert _terms(theta - phi) == ({"theta": 1.0, "phi": -1.0}, 0.0)
    assert _terms(-w[3]) == ({"w[3]": -1.0}, 0.0)
    assert _terms(theta / 4) == ({"theta": 0.25}, 0.0)
    assert _terms((2 * theta + 1) / 2) == ({"theta": 1.0}, 0.5)
    assert _terms(0.5 - theta) == ({"theta": -1.0}, 0.5)
    assert _terms(1 - (theta - phi) * 3) == ({"theta": -3.0, "phi": 3.0}, 1.0)
    assert _terms(+theta) == ({"theta": 1.0}, 0.0)
    assert _terms(theta + theta + theta) == ({"theta": 3.0}, 0.0)


def test_cancelling_terms_drop_the_parameter(theta, phi):
    e = theta + phi - theta
    assert e.parameters == (phi,)
    assert (theta - theta).is_constant()
    assert float(theta - theta + 2) == 2.0


def test_terms_keep_order_of_appearance(theta, phi):
    assert (phi + 2 * theta).parameters == (phi, theta)
    assert (theta + phi).parameters == (theta, phi)


def test_evaluate_and_substitute(theta, phi):
    e = 2 * theta - phi + 0.5
    assert e.evaluate({theta: 1.0, phi: 3.0}) == pytest.approx(-0.5)
    s = e.substitute({theta: 3 * phi + 1})
    assert _terms(s) == ({"phi": 5.0}, 2.5)
    assert e.substitute({theta: 1.0, phi: 3.0}) == -0.5


@pytest.mark.parametrize("build", [
    lambda t, p: t * p,
    lambda t, p: (t + 1) * (p - 2),
    lambda t, p: 1 / t,
    lambda t, p: 2 / (t + 1),
    lambda t, p: t / p,
    lambda t, p: t**2,
    lambda t, p: (t + p) ** 1,
], ids=["theta*phi", "product-of-sums", "1/theta", "2/(theta+1)", "theta/phi", "theta**2", "pow-1"])
def test_non_affine_raises(theta, phi, build):
    with pytest.raises(NonAffineError, match="not affine"):
        build(theta, phi)


def test_non_affine_error_is_a_type_error(theta):
    with pytest.raises(TypeError):
        theta * theta
    assert issubclass(NonAffineError, qdiff.QdiffError)


def test_complex_or_bool_coefficients_raise(theta):
    with pytest.raises(NonAffineError, match="real number"):
        theta * 1j
    with pytest.raises(NonAffineError, match="real number"):
        theta * True


def test_product_with_a_constant_expression_is_fine(theta):
    const = ParameterExpression(offset=3.0)
    assert _terms(theta * const) == ({"theta": 3.0}, 0.0)
    assert _terms(const * theta) == ({"theta": 3.0}, 0.0)


def test_division_by_zero(theta):
    with pytest.raises(ZeroDivisionError):
        theta / 0


def test_parameter_identity_is_by_object():
    a, b = Parameter("t"), Parameter("t")
    assert a != b and a == a
    assert len({a, b}) == 2
    assert 2 * a + 1 == 1 + a * 2
    assert 2 * a + 1 != 2 * b + 1
    assert hash(2 * a + 1) == hash(1 + 2 * a)


def test_unbound_parameters_have_no_float(theta):
    with pytest.raises(TypeError, match="no value"):
        float(theta)
    with pytest.raises(TypeError, match="unbound"):
        float(theta + 1)


def test_parameter_name_must_be_a_non_empty_string():
    with pytest.raises(TypeError):
        Parameter("")
    with pytest.raises(TypeError):
        Parameter(3)  # type: ignore[arg-type]


def test_parameter_vector():
    w = ParameterVector("w", 4)
    assert len(w) == 4
    assert [p.name for p in w] == ["w[0]", "w[1]", "w[2]", "w[3]"]
    assert w[1] is w.params[1]
    assert w[1:3] == [w[1], w[2]]
    assert w[-1] is w[3]
    with pytest.raises(IndexError):
        w[4]
    with pytest.raises(TypeError):
        ParameterVector("v", -1)
    assert len(ParameterVector("e", 0)) == 0


def test_str_of_expressions(theta, phi):
    assert str(2 * theta + 0.1) == "2*theta + 0.1"
    assert str(theta - phi) == "theta - phi"
    assert str(ParameterExpression()) == "0"

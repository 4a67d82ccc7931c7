"""V2 request bodies as JSON: a numeric tensor's data may come flat, nested to its shape,
or nested unevenly; each gives the same tensor, and data that are not numbers of the
tensor's datatype get a 400 that says so."""

import json

import numpy as np
import pytest

from fermion.errors import InvalidInput
from fermion.serving import v2


def body(data, datatype="FP32", shape=(2, 3)) -> bytes:
    tensor = {"name": "input", "datatype": datatype, "shape": list(shape), "data": data}
    return json.dumps({"inputs": [tensor]}).encode()


@pytest.mark.parametrize(
    "data",
    [
        [0, 1.5, 2, 3, 4, 5],  # flat, row-major
        [[0, 1.5, 2], [3, 4, 5]],  # nested to the shape
        [[0, 1.5], [2, 3, 4], 5],  # nested unevenly: the count is what must match
    ],
)
def test_flat_nested_and_uneven_data_give_one_tensor(data):
    tensor = v2.parse_request(body(data), None).input
    assert tensor.values.dtype == np.float32 and tensor.values.shape == (2, 3)
    assert tensor.values.tolist() == [[0, 1.5, 2], [3, 4, 5]]


@pytest.mark.parametrize(
    ("data", "datatype", "says"),
    [
        ([[0, 1, 2], [3, 4, {"x": 1}]], "FP32", "not all FP32 values"),
        ([0, 1, 2, 3, 4, "five"], "FP32", "not all FP32 values"),
        ([0, 1, 2, 3, 4, 300], "INT8", "not all INT8 values"),
        ([0, 1, 2, 3, 4], "FP32", "5 values do not fill shape [2, 3]"),
    ],
)
def test_data_that_do_not_fit_the_datatype_or_shape_are_refused(data, datatype, says):
    with pytest.raises(InvalidInput, match=said(says)) as caught:
        v2.parse_request(body(data, datatype), None)
    assert caught.value.status == 400


def said(text: str) -> str:
    return text.replace("[", r"\[").replace("]", r"\]")

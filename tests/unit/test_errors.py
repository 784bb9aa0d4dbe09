import grpc
import pytest

from attune.services.common import errors


class FakeRpcError(grpc.RpcError):
    """A pure-logic stand-in for a failed call: only code() and details()."""

    def __init__(self, code, details):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


@pytest.mark.parametrize("cls", [errors.NotFound, errors.ResourceExhausted, errors.Unavailable,
                                 errors.Unauthenticated, errors.FailedPrecondition, errors.DeadlineExceeded])
def test_status_codes_round_trip(cls):
    back = errors.from_rpc_error(FakeRpcError(cls.code, "why"))
    assert type(back) is cls and str(back) == "why"


def test_invalid_argument_keeps_the_field():
    original = errors.InvalidArgument("sampling.max_tokens", "out of range")
    back = errors.from_rpc_error(FakeRpcError(original.code, str(original)))
    assert isinstance(back, errors.InvalidArgument)
    assert back.field == "sampling.max_tokens"


def test_unknown_code_keeps_the_code():
    back = errors.from_rpc_error(FakeRpcError(grpc.StatusCode.DATA_LOSS, "gone"))
    assert back.code == grpc.StatusCode.DATA_LOSS

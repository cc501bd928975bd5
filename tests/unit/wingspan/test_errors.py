"""Error types map to one status and one body (wings-api.md §1.5, §1.6, §1.8)."""

from wingspan import errors


def test_captured_errors_carry_the_request_id():
    body = errors.FileNotFound().body("rid")
    assert body == {"error": "The requested resources was not found on the system.",
                    "request_id": "rid"}


def test_handler_errors_do_not_carry_a_request_id():
    assert errors.ServerNotFound().body("rid") == {
        "error": "The requested resource does not exist on this instance."}
    assert errors.MissingAuthorization().status == 401
    assert errors.MissingAuthorization().headers == {"WWW-Authenticate": "Bearer"}
    assert errors.MissingAuthorization().body("x") == {
        "error": "The required authorization heads were not present in the request."}
    assert errors.Forbidden().body("x") == {
        "error": "You are not authorized to access this endpoint."}


def test_escape_looks_like_not_found():
    assert errors.PathOutsideRoot().status == 404
    assert errors.PathOutsideRoot().public_message == errors.FileNotFound.message


def test_wire_round_trip_keeps_class_message_and_detail():
    wire = errors.NotEnoughDisk(detail="used 5 of 4").to_wire()
    again = errors.WingspanError.from_wire(wire)
    assert type(again) is errors.NotEnoughDisk
    assert again.detail == "used 5 of 4" and again.status == 400


def test_codes_are_unique():
    codes = [cls.code for cls in errors._REGISTRY.values()]
    assert len(codes) == len(set(codes))

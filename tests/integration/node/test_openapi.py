"""The node serves its OpenAPI document (issue 19): the committed api/openapi.json, behind
the node token, unless the operator turned it off."""

import json

import requests

from api import openapi


def test_the_document_is_served_with_the_node_token_and_matches_the_committed_one(daemon):
    daemon.start()
    answer = daemon.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    with open(openapi.COMMITTED) as f:
        assert answer.json() == json.load(f)
    anonymous = requests.get(daemon.url + "/openapi.json", timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json() == {"error": "The required authorization heads were not present "
                                         "in the request."}


def test_the_document_can_be_turned_off(daemon_factory):
    daemon = daemon_factory(wingspan={"disable_openapi_docs": True}).start()
    answer = daemon.get("/openapi.json")
    assert answer.status_code == 404
    assert "error" in answer.json()


def test_a_body_outside_its_declaration_is_a_bind_error_not_a_500(daemon):
    """wings-api.md §1.6: wrong JSON types are 400 with the generic message."""
    daemon.start()
    for body in ({"uuid": 5}, {"uuid": "x", "start_on_completion": "yes"}, [1]):
        answer = daemon.post("/api/servers", body)
        assert answer.status_code == 400
        assert answer.json()["error"] == ("An unexpected error was encountered while "
                                          "processing this request")

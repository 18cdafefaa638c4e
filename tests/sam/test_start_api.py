"""``sam local start-api``: the HTTP API's routes, served by SAM from the synthesized template.

SAM CLI does not run HTTP API JWT authorizers: it passes requests to the function without
claims, so an authenticated route answers the function's own 401 problem (on AWS, API Gateway
answers 401 before the function runs). docs/sam-local.md says so.
"""

from __future__ import annotations

import httpx

from functions.api.surface import PUBLIC_PATHS
from tests.sam.support import Sam


def test_start_api_serves_public_routes_and_refuses_authenticated_ones(sam: Sam) -> None:
    # Given SAM serving the template's HTTP API
    with sam.start_api() as base_url, httpx.Client(base_url=base_url, timeout=sam.timeout) as client:
        # When the public routes are called without a token
        answers = {path: client.get(path) for path in PUBLIC_PATHS}
        # Then each answers 200 through the API function (health reached MinIO)
        assert {path: answer.status_code for path, answer in answers.items()} == dict.fromkeys(PUBLIC_PATHS, 200)
        assert answers["/v1/health"].json() == {"status": "ok"}
        assert answers["/v1/openapi.json"].json()["info"]["title"] == "Upvault"

        # When an authenticated route is called (SAM has no JWT authorizer: no claims reach it)
        refused = client.get("/v1/files")
        # Then the function itself refuses it with a 401 problem
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")

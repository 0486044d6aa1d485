"""``accessgraph serve``: the app under uvicorn."""

from __future__ import annotations

import uvicorn

from gql.settings import Settings


def serve(settings: Settings, *, host: str, port: int, workers: int) -> None:
    if workers > 1:
        # Each worker process builds its own app from the environment.
        uvicorn.run(
            "gql.server:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
        )
        return
    from gql.app import create_app

    uvicorn.run(create_app(settings), host=host, port=port)


def app_from_environment() -> object:
    from gql.app import create_app

    return create_app(Settings())

"""Pub/Sub fixtures: emulator or gRPC fake on 127.0.0.1 (filled in by the Pub/Sub work)."""

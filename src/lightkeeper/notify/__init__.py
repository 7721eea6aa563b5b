"""Telling people: channels (Apprise URLs), the persistent outbox, delivery with retries."""

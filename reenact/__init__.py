"""reenact: real-time webcam face re-enactment on an ordinary CPU."""

__version__ = "0.1.0"

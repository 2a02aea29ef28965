"""The touch terminal at a counter: screen flow, durable outbox, MQTT uplink, Kivy UI."""
__version__ = "0.1.0"

"""User-facing messages that an interface can show in its own language.

``core`` speaks English: the CLI and logs print a :class:`Message` as the plain string
it is. A message also carries a ``key`` and the ``values`` it was built from, so the
dashboard can look up ``core.<key>`` in its translation table and show the same
message in Chinese. So far only the messages a dashboard user meets while checking
data carry a key. Other errors stay English, inside a translated sentence of the page.
"""

from __future__ import annotations


class Message(str):
    """An English message string that remembers its translation key and values."""

    key: str
    values: dict

    def __new__(cls, key: str, template: str, **values) -> "Message":
        text = super().__new__(cls, template.format(**values))
        text.key = key
        text.values = values
        return text

    def __reduce__(self):
        # Streamlit's cache pickles what it stores; rebuild from the finished text, not the template.
        return _restore, (self.key, str(self), self.values)


def _restore(key: str, text: str, values: dict) -> Message:
    message = str.__new__(Message, text)
    message.key = key
    message.values = values
    return message

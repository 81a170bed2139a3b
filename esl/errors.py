"""The ESL error tree, drawn like httpx's.

ESLError
├── ProtocolError
│   ├── LocalProtocolError    we were asked to send something the protocol cannot carry
│   └── RemoteProtocolError   the switch sent bytes that are not ESL
├── AuthenticationError       the switch refused the password
├── CommandError              the switch answered a command with -ERR
└── ConnectionClosed          the switch went away (or hung up the call's socket)
"""


class ESLError(Exception):
    """Base of every error raised by the esl package."""


class ProtocolError(ESLError):
    pass


class LocalProtocolError(ProtocolError):
    pass


class RemoteProtocolError(ProtocolError):
    pass


class AuthenticationError(ESLError):
    pass


class CommandError(ESLError):
    def __init__(self, command: str, reply: str) -> None:
        super().__init__(f"{command!r} failed: {reply}")
        self.command = command
        self.reply = reply


class ConnectionClosed(ESLError):
    pass

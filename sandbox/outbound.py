"""The outbound socket: the sandbox's B-leg connecting to the engine, as the dialplan's
``<action application="socket" data="ENGINE async full"/>`` makes FreeSWITCH do.

Wire behaviour from outbound_*.esl and mod_event_socket.c: ``connect`` is answered with
the channel data as a command/reply (``Reply-Text: %2BOK%0A``); ``sendmsg`` is answered
``+OK`` at once and its application queued; at hangup a lingering socket gets the
``linger`` disconnect notice (right after CHANNEL_HANGUP when an application was running,
else after CHANNEL_HANGUP_COMPLETE, as recorded) and is closed once the channel is gone;
a socket that does not linger gets send_disconnect()'s ``Content-Disposition: disconnect``
notice at CHANNEL_HANGUP and is closed. If the engine closes first, the socket
application returns and the channel hangs up NORMAL_CLEARING, as the dialplan would.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from esl.encode import encode_headers
from esl.protocol import Command
from sandbox import events
from sandbox.channel import Channel
from sandbox.listener import Connection

if TYPE_CHECKING:
    from sandbox.switch import Switch


class OutboundSession(Connection):
    """The socket application's connection for one channel."""

    def __init__(
        self,
        switch: Switch,
        channel: Channel,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        super().__init__(switch, reader, writer)
        self.channel = channel
        self.linger: int | None = None
        self.notice_sent = False
        channel.controller = self

    async def run(self) -> None:
        """Serve the engine's commands; when it goes away, end the socket app."""
        runner = self.channel.spawn(self.channel.run_queue())
        try:
            await self.serve_commands()
        finally:
            if not self.closed:
                await self.close()
            if self.channel.is_up:
                self.channel.hangup("NORMAL_CLEARING")
            runner.cancel()

    async def handle(self, command: Command) -> None:
        verb = command.verb.lower()
        handler = {
            "connect": self.cmd_connect,
            "myevents": self.cmd_myevents,
            "linger": self.cmd_linger,
            "nolinger": self.cmd_nolinger,
            "sendmsg": self.cmd_sendmsg,
            "getvar": self.cmd_getvar,
            "resume": self.cmd_resume,
            "divert_events": self.cmd_divert,
        }.get(verb)
        if handler is None:
            await super().handle(command)
        else:
            await handler(command)

    async def cmd_connect(self, command: Command) -> None:
        self.write(encode_headers(events.channel_data(self.channel), encode=True) + b"\n")

    async def cmd_myevents(self, command: Command) -> None:
        if self.my_uuid is not None:
            self.reply("-ERR aready enabled.")
            return
        self.enable_myevents(self.channel.uuid)
        if "json" in command.arg.lower():
            self.format = "json"
        self.reply("+OK Events Enabled")

    async def cmd_linger(self, command: Command) -> None:
        seconds = command.arg.strip()
        if seconds.isdigit():
            self.linger = int(seconds)
            self.reply(f"+OK will linger {self.linger} seconds")
        else:
            self.linger = -1
            self.reply("+OK will linger")

    async def cmd_nolinger(self, command: Command) -> None:
        self.linger = None
        self.reply("+OK will not linger")

    async def cmd_getvar(self, command: Command) -> None:
        self.reply(self.channel.variables.get(command.arg.strip(), ""))

    async def cmd_resume(self, command: Command) -> None:
        self.channel.set_var("socket_resume", "true")
        self.reply("+OK")

    async def cmd_divert(self, command: Command) -> None:
        on = command.arg.strip().lower() == "on"
        self.reply("+OK events diverted" if on else "+OK events not diverted")

    async def cmd_sendmsg(self, command: Command) -> None:
        target = command.arg.strip()
        channel = self.channel
        if target and target != channel.uuid:
            other = self.switch.channels.get(target)
            if other is None:
                self.reply(f"-ERR invalid session id [{target}]")
                return
            channel = other
        self.reply("+OK")
        deliver_message(channel, command)

    # ---- the channel going down -----------------------------------------------------

    def on_hangup(self, app_running: bool) -> None:
        """CHANNEL_HANGUP has just been fired for our channel."""
        if self.closed:
            return
        if self.linger is None:
            self.switch.spawn(self.close(events.goodbye_notice(self.channel.uuid)))
        elif app_running:
            self._send_linger_notice()

    def on_gone(self) -> None:
        """CHANNEL_HANGUP_COMPLETE has been fired: the socket application is over."""
        if self.closed:
            return
        self._send_linger_notice()
        self.switch.spawn(self.close())

    def _send_linger_notice(self) -> None:
        if not self.notice_sent and self.linger is not None:
            self.notice_sent = True
            ch = self.channel
            self.write(events.linger_notice(ch.uuid, ch.name, self.linger))


def deliver_message(channel: Channel, command: Command) -> None:
    """A ``sendmsg``: queue an execute, or hang up (other call-commands are accepted)."""
    call_command = (command.get("call-command") or "").lower()
    if call_command == "execute":
        app = command.get("execute-app-name") or ""
        arg = command.get("execute-app-arg") or ""
        if not arg and command.body:
            arg = command.body.decode("utf-8", "replace")
        channel.queue.put_nowait((app, arg, command.get("Event-UUID")))
    elif call_command == "hangup":
        channel.hangup(command.get("hangup-cause") or "NORMAL_CLEARING")

"""callscript sandbox: a FreeSWITCH 1.10 stand-in speaking ESL like esl-captures/."""

from sandbox.switch import Sandbox, main, run

__all__ = ["Sandbox", "main", "run"]

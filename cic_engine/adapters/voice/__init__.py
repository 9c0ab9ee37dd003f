"""The voice channel: one FreeSWITCH node per adapter file.

`adapter` holds the event socket and the calls (the entry point, VoiceAdapter); `ivr` answers a
call with the menu from config; `controls` runs an agent's commands on a live call (hold,
transfer, record...); `conversation` two-agent calls and conferences; `dialing` click-to-call;
`campaign` a campaign's calls; `phones` which agents have a registered phone; `recovery`
reclaims calls after a restart of the engine or the switch; `config` the adapter file.
"""

from .adapter import VoiceAdapter

__all__ = ["VoiceAdapter"]

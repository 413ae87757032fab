"""Agents without I/O: the chat machine, the agent's state and decisions, tool calls and deltas.

``client.agent(...)`` returns ``inferencesh._async.agent.AsyncAgent`` on the async client and
its generated blocking twin, ``Agent``, on the blocking one; both derive from ``AgentBase``.
"""

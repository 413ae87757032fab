"""The client layer, written once: the async clients, transport, tasks, files, sessions and
agents, and the driver that follows tasks and chats.

The blocking twins in ``inferencesh._generated.sync`` are generated from these modules by
``make generate`` (``codegen/unasync.py``): ``AsyncX`` becomes ``X``, ``async def`` ``def``,
``await`` goes. Edit these, never the twins. Decisions without I/O live in the shared private
modules (``inferencesh._tasks``, ``_files``, ``_sessions``, ``_agents``, ``_streaming``,
``_transport``, ``_client``); what waiting means on each side is ``inferencesh._concurrency``.
"""

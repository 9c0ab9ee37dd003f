"""The sections of cic.toml as pydantic models, one module per area (routing and queues, cases,
surveys, outbound campaigns, the softphone). They import nothing of the engine above the
models, so `config.py` validates a file without loading the code that will use it."""

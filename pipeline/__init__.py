"""The embedding job: command line, assembly of the transforms, run summary."""

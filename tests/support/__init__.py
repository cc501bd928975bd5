"""Test support: a fake Panel and fake S3, the local test images' server documents, a
wingspan daemon runner, and drivers that speak to a daemon as the Panel and its browser do
(panel-contract.md §7)."""

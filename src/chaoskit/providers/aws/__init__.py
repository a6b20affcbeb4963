"""The AWS provider. Importing the package imports nothing heavy: its modules import boto3
and botocore, and only an environment with ``provider = "aws"`` imports them."""

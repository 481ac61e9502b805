"""The WeCom (企业微信) boundary: callback crypto, the API client and the WeCom simulator.

Imports only `config` and third-party libraries (wechatpy, requests, redis, pycryptodome).
"""

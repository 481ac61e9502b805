"""SMS: the off-campus applicant's channel (sign-in codes, results).

- `providers`: the `SmsProvider` interface, its errors, and `make_provider(settings)`.
- `templates`: the hall's two messages (`code`, `result`) and their vendor template ids.
- `http`: a plain HTTP JSON gateway (a school's own SMS platform; the sandbox speaks it).
- `aliyun`, `tencent`: the vendors' official SDKs.
- `codes`: sign-in codes and the hall's own send limits (Redis).
- `models`: the delivery log (`sms_message`).
- `sandbox`: the sandbox SMS gateway and its phone page, `/_sandbox/sms/`.

Vendors only send pre-approved signature + template with parameters, never free text, so
everything the hall sends is a template name and its parameters.
"""

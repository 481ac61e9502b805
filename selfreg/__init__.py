"""Self-registration: how teachers and students join the school's WeCom (seed paper §4.4).

Invitations are off; the only way in is this flow:

1. a QR code (or WeCom's member verification, which redirects a joining member here with a
   `code`) opens the public page `/join`; the person picks 教职工 or 学生;
2. CAS proves who they are (`sso.identity`: the REST password check where the school allows
   it, else a browser round trip through CAS `/login`);
3. `matching.match` compares the CAS identity with the synced people (exists, active, the
   chosen type, the same name, the same person as the WeCom code's member);
4. `services.register` writes the middle table row (`models.Registration`) and, when it
   matched, an outbox row in the same transaction;
5. the relay hands that row to `push.JoinChannel`, which creates or updates the member through
   the contacts assistant and admits them with `user/authsucc`; the outcome is on the row.

The package imports hall, sso and wework only; web/ builds the pages and plugs the channel
into the worker.
"""

-- Release a lease: delete KEYS[1] if it still holds ARGV[1] (the holder's token), so that a
-- holder whose lease expired never deletes the next holder's. Returns 1 if deleted.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0

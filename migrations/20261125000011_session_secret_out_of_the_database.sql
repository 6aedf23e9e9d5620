-- The session signing secret now comes from the configuration
-- (HALL_SESSION_SECRET[_FILE], or a file generated in the data directory),
-- never from the database: whoever can read the database or a backup must
-- not be able to mint a session. Sessions signed with the old secret end.
DROP TABLE server_secrets;

-- The gallery's thumbnail of a photo, made by the `event_thumbnails` job: its blob key, NULL until
-- the job has made it (the pages show the photo itself meanwhile, and when the photo cannot be
-- decoded).
ALTER TABLE photos ADD COLUMN thumbnail_key TEXT;

"""Files in and out: the frames a video is made from (``images``: local paths, URLs, data URLs,
bytes, object storage) and the places a video is written to (``storage``: local folders and
object storage, and the connection's allowed frame roots)."""

"""Example-based video stylisation: keyframes stylised with NNST, propagated along the optical flow.

``stylize_video(frames, style, VideoParams(...))`` over any iterable of frames; reading and writing
video files lives in :mod:`analogist.apps.video.stream`.
"""

from .flow import warping_error
from .pipeline import VideoParams, choose_keyframes, parse_keyframes, stylize_video

__all__ = ["VideoParams", "choose_keyframes", "parse_keyframes", "stylize_video", "warping_error"]

"""Index lists into MediaPipe's 478-point face mesh, as ordered contours.

Ordered loops (rather than MediaPipe's unordered edge lists) let the sketch fill the
inner mouth and the eyes as polygons. "Left" and "right" are the subject's own, as in
MediaPipe: the subject's right eye is on the image's left.
"""

import numpy as np

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
             400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
             54, 103, 67, 109)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
RIGHT_BROW = (46, 53, 52, 65, 55, 107, 66, 105, 63, 70)
LEFT_BROW = (276, 283, 282, 295, 285, 336, 296, 334, 293, 300)
NOSE_BRIDGE = (168, 6, 197, 195, 5, 4, 1, 19, 94, 2)
NOSE_BASE = (64, 98, 97, 2, 326, 327, 294)
NOSE_WINGS = (48, 115, 220, 45, 4, 275, 440, 344, 278)
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37,
              39, 40, 185)
LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82,
              81, 80, 191)
# Points along the upper edge of each brow (the brow contours' first halves are their
# lower edges); their mean height above the eye's upper lid is the brow raise.
RIGHT_BROW_UPPER = (70, 63, 105, 66, 107)
LEFT_BROW_UPPER = (300, 293, 334, 296, 336)
RIGHT_IRIS_CENTER, RIGHT_IRIS = 468, (469, 470, 471, 472)
LEFT_IRIS_CENTER, LEFT_IRIS = 473, (474, 475, 476, 477)

# Measures of expression, all divided by the inter-ocular distance.
RIGHT_EYE_OUTER, RIGHT_EYE_INNER, LEFT_EYE_INNER, LEFT_EYE_OUTER = 33, 133, 362, 263
INNER_LIP_UPPER, INNER_LIP_LOWER = 13, 14
RIGHT_EYE_UPPER, RIGHT_EYE_LOWER = 159, 145
LEFT_EYE_UPPER, LEFT_EYE_LOWER = 386, 374
MOUTH_RIGHT, MOUTH_LEFT = 61, 291  # outer lip corners
INNER_MOUTH_RIGHT, INNER_MOUTH_LEFT = 78, 308  # inner lip corners
OUTER_LIP_LOWER = 17  # the lower lip's outer edge at the middle
FACE_RIGHT_EDGE, FACE_LEFT_EDGE = 234, 454  # the oval's widest points, at the cheeks

# What moves when the mouth opens or the lids close (retargeting moves these points).
LOWER_LIP = (146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324)
UPPER_LIP = (185, 40, 39, 37, 0, 267, 269, 270, 409, 191, 80, 81, 82, 13, 312, 311, 310, 415)
MOUTH_CORNERS = (MOUTH_RIGHT, MOUTH_LEFT, INNER_MOUTH_RIGHT, INNER_MOUTH_LEFT)
RIGHT_UPPER_LID = (173, 157, 158, 159, 160, 161, 246)
LEFT_UPPER_LID = (398, 384, 385, 386, 387, 388, 466)
# The fold just above each upper lid (the middle of the mesh's next ring up): where a raised
# brow's stretch of the skin above the eye begins (realtime.motion_transfer).
RIGHT_LID_FOLD = (30, 29, 27, 28, 56)
LEFT_LID_FOLD = (260, 259, 257, 258, 286)
# The points an expression moves fast and little: the lids and the lips.
EXPRESSION_POINTS = RIGHT_EYE + LEFT_EYE + LIPS_OUTER + LIPS_INNER

# Points that move with the head but hardly with expression: eye corners and the nose ridge.
# Mouth corners are left out on purpose: a grin would otherwise shift the whole crop.
STABLE_POINTS = (RIGHT_EYE_OUTER, RIGHT_EYE_INNER, LEFT_EYE_INNER, LEFT_EYE_OUTER,
                 168, 6, 197, 195, 5)

# The rigid shape used for identity comparisons: oval, nose and brows.
RIGID_SHAPE = tuple(sorted(set(FACE_OVAL + NOSE_BRIDGE + NOSE_BASE + RIGHT_BROW + LEFT_BROW)))


def inter_ocular(points: np.ndarray) -> float:
    """Distance between the two eye centres (mean of each eye's corners)."""
    right = (points[RIGHT_EYE_OUTER, :2] + points[RIGHT_EYE_INNER, :2]) / 2
    left = (points[LEFT_EYE_OUTER, :2] + points[LEFT_EYE_INNER, :2]) / 2
    return float(np.linalg.norm(left - right))


def mouth_opening(points: np.ndarray) -> float:
    """Inner-lip gap (landmarks 13 and 14) over the inter-ocular distance."""
    gap = np.linalg.norm(points[INNER_LIP_UPPER, :2] - points[INNER_LIP_LOWER, :2])
    return float(gap / inter_ocular(points))


def _signed_gap(points: np.ndarray, upper: int, lower: int) -> float:
    """How far ``lower`` lies below ``upper`` along the face's own down axis (normal to the eye line).

    Unlike a distance it goes smoothly through zero and below when the points cross, so a
    shift along the down axis changes it by exactly the shift.
    """
    eye_line = points[LEFT_EYE_OUTER, :2] - points[RIGHT_EYE_OUTER, :2]
    down = np.array([-eye_line[1], eye_line[0]]) / max(float(np.linalg.norm(eye_line)), 1e-9)
    return float((points[lower, :2] - points[upper, :2]) @ down)


def signed_mouth_opening(points: np.ndarray) -> float:
    """:func:`mouth_opening` with a sign: negative when the lower lip lies above the upper one.

    A real face never crosses its lips, but a retargeted one can (a driver calibrated with
    the mouth open, then closing it), and an unsigned gap would call crossed lips open.
    """
    return _signed_gap(points, INNER_LIP_UPPER, INNER_LIP_LOWER) / inter_ocular(points)


def signed_eye_opening(points: np.ndarray) -> float:
    """:func:`eye_opening` with a sign: negative when the lids cross."""
    return (_signed_gap(points, RIGHT_EYE_UPPER, RIGHT_EYE_LOWER)
            + _signed_gap(points, LEFT_EYE_UPPER, LEFT_EYE_LOWER)) / 2 / inter_ocular(points)


def eye_opening(points: np.ndarray) -> float:
    """Mean lid gap of both eyes over the inter-ocular distance."""
    right = np.linalg.norm(points[RIGHT_EYE_UPPER, :2] - points[RIGHT_EYE_LOWER, :2])
    left = np.linalg.norm(points[LEFT_EYE_UPPER, :2] - points[LEFT_EYE_LOWER, :2])
    return float((right + left) / 2 / inter_ocular(points))
